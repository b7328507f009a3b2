#include "sanpath_shims.h"

#include <stdio.h>

// One receiver for the process: libdevmapper itself keeps a single global log function.
static sanpath_dm_log_fn sanpath_dm_log_receiver;

void sanpath_dm_log_vemit(int level, const char *file, int line, int dm_errno_or_class, const char *format, va_list args) {
    sanpath_dm_log_fn receiver = sanpath_dm_log_receiver;
    if (!receiver) return;
    char message[1024];
    vsnprintf(message, sizeof message, format, args);
    receiver(level & 0x7f, file, line, dm_errno_or_class, message);
}

static void sanpath_dm_log_adapter(int level, const char *file, int line, int dm_errno_or_class, const char *format, ...) {
    va_list args;
    va_start(args, format);
    sanpath_dm_log_vemit(level, file, line, dm_errno_or_class, format, args);
    va_end(args);
}

void sanpath_dm_log_set_receiver(sanpath_dm_log_fn fn) { sanpath_dm_log_receiver = fn; }

void sanpath_dm_log_attach(void) { dm_log_with_errno_init(sanpath_dm_log_adapter); }

const struct dm_names *sanpath_dm_names_first(struct dm_task *task) {
    const struct dm_names *names = dm_task_get_names(task);
    // An empty list is one entry with dev == 0 (see dmsetup's _display_name loop).
    if (!names || !names->dev) return NULL;
    return names;
}

const struct dm_names *sanpath_dm_names_next(const struct dm_names *names) {
    if (!names->next) return NULL;
    return (const struct dm_names *)((const char *)names + names->next);
}

const char *sanpath_dm_names_name(const struct dm_names *names) { return names->name; }

uint64_t sanpath_dm_names_dev(const struct dm_names *names) { return names->dev; }
