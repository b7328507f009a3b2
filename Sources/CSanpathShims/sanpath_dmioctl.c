// sanpath_dmioctl.c: see include/sanpath_dmioctl.h.
#include "sanpath_dmioctl.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>

int sanpath_dm_control_open(void) {
    int fd = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
    return fd >= 0 ? fd : -errno;
}

// The header every call sends: interface version 4.0.0 (the kernel accepts any minor it has and
// answers with its own), the whole buffer as data area, the payload after the header.
static int dm_call(int fd, unsigned long command, const char *name, uint32_t flags, void *buffer, uint32_t size) {
    if (size < sizeof(struct dm_ioctl) + 64) return -EINVAL;
    struct dm_ioctl *dmi = buffer;
    memset(dmi, 0, sizeof *dmi);
    dmi->version[0] = DM_VERSION_MAJOR;
    dmi->data_size = size;
    dmi->data_start = sizeof(struct dm_ioctl);
    dmi->flags = flags;
    if (name) {
        size_t length = strlen(name);
        if (length >= DM_NAME_LEN) return -ENAMETOOLONG;
        memcpy(dmi->name, name, length + 1);
    }
    int rc;
    do { rc = ioctl(fd, command, dmi); } while (rc < 0 && errno == EINTR);
    if (rc < 0) return -errno;
    return (dmi->flags & DM_BUFFER_FULL_FLAG) ? 1 : 0;
}

int sanpath_dm_list(int fd, void *buffer, uint32_t size) {
    return dm_call(fd, DM_LIST_DEVICES, NULL, 0, buffer, size);
}

const char *sanpath_dm_list_next(const void *buffer, uint32_t size, uint32_t *cursor) {
    const struct dm_ioctl *dmi = buffer;
    uint32_t end = dmi->data_size < size ? dmi->data_size : size;
    uint32_t offset = dmi->data_start + *cursor;
    if (*cursor == UINT32_MAX || offset + sizeof(struct dm_name_list) >= end) return NULL;
    const struct dm_name_list *entry = (const struct dm_name_list *)((const char *)buffer + offset);
    if (entry->dev == 0 && *cursor == 0) return NULL;  // no devices
    if (memchr(entry->name, 0, end - offset - offsetof(struct dm_name_list, name)) == NULL) return NULL;
    *cursor = entry->next ? *cursor + entry->next : UINT32_MAX;
    return entry->name;
}

int sanpath_dm_table_status(int fd, const char *name, int table, void *buffer, uint32_t size) {
    return dm_call(fd, DM_TABLE_STATUS, name, table ? DM_STATUS_TABLE_FLAG : 0, buffer, size);
}

void sanpath_dm_info_of(const void *buffer, sanpath_dm_info *info) {
    const struct dm_ioctl *dmi = buffer;
    info->major = major(dmi->dev);
    info->minor = minor(dmi->dev);
    info->open_count = dmi->open_count;
    info->event_nr = dmi->event_nr;
    info->target_count = dmi->target_count;
    info->uuid = dmi->uuid;
}

int sanpath_dm_target(const void *buffer, uint32_t size, uint32_t index, const char **type, const char **params) {
    const struct dm_ioctl *dmi = buffer;
    uint32_t end = dmi->data_size < size ? dmi->data_size : size;
    if (index >= dmi->target_count || dmi->data_start >= end) return -1;
    const char *data = (const char *)buffer + dmi->data_start;
    uint32_t limit = end - dmi->data_start;
    uint32_t offset = 0;
    for (uint32_t i = 0;; i++) {
        if (offset + sizeof(struct dm_target_spec) >= limit) return -1;
        const struct dm_target_spec *spec = (const struct dm_target_spec *)(data + offset);
        if (i == index) {
            const char *text = data + offset + sizeof(struct dm_target_spec);
            if (memchr(spec->target_type, 0, sizeof spec->target_type) == NULL) return -1;
            if (memchr(text, 0, limit - offset - sizeof(struct dm_target_spec)) == NULL) return -1;
            *type = spec->target_type;
            *params = text;
            return 0;
        }
        if (spec->next <= offset) return -1;
        offset = spec->next;
    }
}

int sanpath_is_sysfs(const char *path) {
    struct statfs info;
    return statfs(path, &info) == 0 && info.f_type == 0x62656572;  // SYSFS_MAGIC
}
