// sanpath_shims: the few libdevmapper things Swift cannot import or call directly, and the
// half-open portal probe (sanpath_synprobe.h).
#ifndef SANPATH_SHIMS_H
#define SANPATH_SHIMS_H

#include <libdevmapper.h>
#include <stdarg.h>
#include <stdint.h>

#include "sanpath_dmioctl.h"
#include "sanpath_synprobe.h"

// libdevmapper's log levels (libdm/misc/dm-logging.h), after the _LOG_STDERR/_LOG_ONCE bits are masked.
#define SANPATH_DM_LOG_FATAL 2
#define SANPATH_DM_LOG_ERR 3
#define SANPATH_DM_LOG_WARN 4
#define SANPATH_DM_LOG_NOTICE 5
#define SANPATH_DM_LOG_INFO 6
#define SANPATH_DM_LOG_DEBUG 7

// A non-variadic receiver for libdevmapper's messages: the message is already formatted.
typedef void (*sanpath_dm_log_fn)(int level, const char *file, int line, int dm_errno_or_class, const char *message);

// Sets the receiver of formatted messages (no libdevmapper call).
void sanpath_dm_log_set_receiver(sanpath_dm_log_fn fn);

// Points libdevmapper's log at the adapter that formats for the receiver (dm_log_with_errno_init).
void sanpath_dm_log_attach(void);

// Formats one message and hands it to the installed receiver; what the variadic adapter calls.
void sanpath_dm_log_vemit(int level, const char *file, int line, int dm_errno_or_class, const char *format, va_list args);

// struct dm_names ends in a flexible array and chains by byte offset: walk it here.
// The first entry of a DM_DEVICE_LIST result, or NULL when the list is empty.
const struct dm_names *sanpath_dm_names_first(struct dm_task *task);
// The entry after `names`, or NULL at the end.
const struct dm_names *sanpath_dm_names_next(const struct dm_names *names);
// The device name of an entry.
const char *sanpath_dm_names_name(const struct dm_names *names);
// The dev_t of an entry.
uint64_t sanpath_dm_names_dev(const struct dm_names *names);

#endif
