// sanpath_dmioctl: the full scan's read-only device-mapper ioctls without libdevmapper's per-call
// work (a task, a zeroed 16 KiB buffer, a copy of every target): one buffer of the caller's,
// reused for every map, on a control fd the caller opened. Only DM_LIST_DEVICES and
// DM_TABLE_STATUS (status, or the table with DM_STATUS_TABLE_FLAG), never anything that changes a map.
#ifndef SANPATH_DMIOCTL_H
#define SANPATH_DMIOCTL_H

#include <stddef.h>
#include <stdint.h>

// What one DM_TABLE_STATUS said about the device itself (struct dm_ioctl's header). There is no
// "exists" flag: the kernel never sets one (libdevmapper's DM_EXISTS_FLAG is its own, set before
// the ioctl and cleared on ENXIO); a device that is not there fails the ioctl with ENXIO.
typedef struct {
    uint32_t major;
    uint32_t minor;
    int32_t open_count;
    uint32_t event_nr;
    uint32_t target_count;
    const char *uuid;  // inside the buffer
} sanpath_dm_info;

// Opens /dev/mapper/control read-write (close-on-exec); never creates it. -errno when it cannot.
int sanpath_dm_control_open(void);

// DM_LIST_DEVICES into buffer. 0, 1 when the buffer was too small (grow it and ask again), or -errno.
int sanpath_dm_list(int fd, void *buffer, uint32_t size);

// The names of the listed devices, one after another: *cursor 0 starts; NULL at the end.
const char *sanpath_dm_list_next(const void *buffer, uint32_t size, uint32_t *cursor);

// DM_TABLE_STATUS of the device NAME: its status (table 0) or its table (table 1) into buffer.
// 0, 1 when the buffer was too small, or -errno (-ENXIO: no such device).
int sanpath_dm_table_status(int fd, const char *name, int table, void *buffer, uint32_t size);

// The identity the last DM_TABLE_STATUS in buffer gave.
void sanpath_dm_info_of(const void *buffer, sanpath_dm_info *info);

// The target type and parameters of target INDEX (0-based) of the reply in buffer; 0, or -1 when
// there is no such target or the reply is malformed.
int sanpath_dm_target(const void *buffer, uint32_t size, uint32_t index, const char **type, const char **params);

// 1 when PATH is on a sysfs (statfs f_type SYSFS_MAGIC), 0 when not or unknown: SysfsReader keeps
// attribute files open only there (Swift's Glibc module has no statfs).
int sanpath_is_sysfs(const char *path);

#endif
