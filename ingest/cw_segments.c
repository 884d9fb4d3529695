/*  cw_segments.c - stored payloads in append-only segment files (see cw_segments.h). */
#include "coachwire/cw_segments.h"
#include "coachwire/cw_error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_FDS 8                 /* segment files kept open for reading and wiping */
#define S_NAME_MAX 32           /* "NNNNNNNN.seg" */

typedef struct {
    uint32_t segment;
    int fd;                     /* -1 when the slot is free */
} s_fd_t;

struct _cw_segments_t {
    char *dir;
    uint32_t active;            /* the segment appended to; 0 = not looked up yet */
    int active_fd;
    bool active_new;            /* created since the last flush: the directory needs a sync */
    uint64_t start;             /* where the buffered bytes go in the active segment ... */
    bool placed;                /* ... found for this group (until its flush or discard) */
    uint8_t *buf;               /* bytes added since the last flush */
    size_t len, cap;
    s_fd_t fds [S_FDS];         /* for reads and wipes, replaced round robin */
    size_t fd_next;
    char error [160];
};

static int
s_fail (cw_segments_t *self, uint32_t segment, const char *what, int err)
{
    snprintf (self->error, sizeof self->error, "segment %08x.seg: %s: %s", segment, what,
              strerror (err));
    return err == ENOSPC || err == EDQUOT ? CW_ENOSPC : err == ENOMEM ? CW_ENOMEM : CW_EIO;
}

static void
s_path (const cw_segments_t *self, uint32_t segment, char *path, size_t size)
{
    snprintf (path, size, "%s/%08x.seg", self->dir, segment);
}

int
cw_segments_open (cw_segments_t **out, const char *dir)
{
    if (!out || !dir || !*dir)
        return CW_EINVAL;
    *out = NULL;
    if (mkdir (dir, 0700) != 0 && errno != EEXIST)
        return errno == ENOSPC ? CW_ENOSPC : CW_EIO;
    cw_segments_t *self = calloc (1, sizeof *self);
    if (!self || !(self->dir = strdup (dir))) {
        free (self);
        return CW_ENOMEM;
    }
    self->active_fd = -1;
    for (size_t i = 0; i < S_FDS; i++)
        self->fds [i].fd = -1;
    *out = self;
    return CW_OK;
}

void
cw_segments_destroy (cw_segments_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_segments_t *self = *self_p;
    if (self->active_fd >= 0)
        close (self->active_fd);
    for (size_t i = 0; i < S_FDS; i++)
        if (self->fds [i].fd >= 0)
            close (self->fds [i].fd);
    free (self->buf);
    free (self->dir);
    free (self);
    *self_p = NULL;
}

/*  The highest segment number in the directory, 0 when there is none. */
static uint32_t
s_last_segment (const cw_segments_t *self)
{
    uint32_t last = 0;
    DIR *d = opendir (self->dir);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir (d)) != NULL) {
        char *end = NULL;
        unsigned long n = strtoul (e->d_name, &end, 16);
        if (end == e->d_name + 8 && strcmp (end, ".seg") == 0 && n <= UINT32_MAX
            && n > last)
            last = (uint32_t) n;
    }
    closedir (d);
    return last;
}

/*  Opens segment (creating it when create) for the appends, as the active one. */
static int
s_activate (cw_segments_t *self, uint32_t segment, bool create)
{
    char path [PATH_MAX];
    s_path (self, segment, path, sizeof path);
    int fd = open (path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
    if (fd < 0)
        return errno == ENOENT && !create ? CW_ENOENT : s_fail (self, segment, "open", errno);
    if (self->active_fd >= 0)
        close (self->active_fd);
    self->active_fd = fd;
    self->active = segment;
    self->active_new = create;
    return CW_OK;
}

/*  The append position for a new group: the end of the newest segment (another connection
 *  may have started one since we last wrote), or a new segment when that one is full. */
static int
s_find_end (cw_segments_t *self)
{
    int rc = CW_OK;
    if (self->active == 0) {
        uint32_t last = s_last_segment (self);
        rc = s_activate (self, last ? last : 1, last == 0);
    }
    while (rc == CW_OK && self->active < UINT32_MAX) {
        rc = s_activate (self, self->active + 1, false);
        if (rc == CW_ENOENT) {
            rc = CW_OK;
            break;
        }
    }
    if (rc != CW_OK)
        return rc;
    struct stat st;
    if (fstat (self->active_fd, &st) != 0)
        return s_fail (self, self->active, "stat", errno);
    if ((uint64_t) st.st_size >= CW_SEGMENT_BYTES) {
        if (self->active == UINT32_MAX)
            return s_fail (self, self->active, "no segment numbers left", EFBIG);
        if ((rc = s_activate (self, self->active + 1, true)) != CW_OK)
            return rc;
        st.st_size = 0;
    }
    self->start = (uint64_t) st.st_size;
    self->placed = true;
    return CW_OK;
}

int
cw_segments_add (cw_segments_t *self, const uint8_t *data, size_t len, uint32_t *segment,
                 uint64_t *offset)
{
    if (!self || (!data && len) || len > CW_SEGMENT_PAYLOAD_MAX || !segment || !offset)
        return CW_EINVAL;
    int rc = CW_OK;
    if (!self->placed && (rc = s_find_end (self)) != CW_OK)
        return rc;
    if (self->len + len > self->cap) {
        size_t cap = self->cap ? self->cap : 64 * 1024;
        while (cap < self->len + len)
            cap *= 2;
        uint8_t *buf = realloc (self->buf, cap);
        if (!buf)
            return CW_ENOMEM;
        self->buf = buf;
        self->cap = cap;
    }
    if (len)
        memcpy (self->buf + self->len, data, len);
    *segment = self->active;
    *offset = self->start + self->len;
    self->len += len;
    return CW_OK;
}

int
cw_segments_next (cw_segments_t *self, uint32_t *segment, uint64_t *offset)
{
    if (!self || !segment || !offset)
        return CW_EINVAL;
    int rc = CW_OK;
    if (!self->placed && (rc = s_find_end (self)) != CW_OK)
        return rc;
    *segment = self->active;
    *offset = self->start + self->len;
    return CW_OK;
}

static int
s_sync_dir (cw_segments_t *self)
{
    int fd = open (self->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return s_fail (self, self->active, "open directory", errno);
    int rc = fsync (fd) == 0 ? CW_OK : s_fail (self, self->active, "sync directory", errno);
    close (fd);
    return rc;
}

int
cw_segments_flush (cw_segments_t *self)
{
    if (!self)
        return CW_EINVAL;
    self->placed = false;       /* the next group looks again: others may write meanwhile */
    if (self->len == 0)
        return CW_OK;
    int rc = CW_OK;
    size_t done = 0;
    while (rc == CW_OK && done < self->len) {
        ssize_t n = pwrite (self->active_fd, self->buf + done, self->len - done,
                            (off_t) (self->start + done));
        if (n > 0)
            done += (size_t) n;
        else if (n == 0 || errno != EINTR)
            rc = s_fail (self, self->active, "write", n == 0 ? EIO : errno);
    }
    if (rc == CW_OK && fdatasync (self->active_fd) != 0)
        rc = s_fail (self, self->active, "sync", errno);
    if (rc == CW_OK && self->active_new) {
        rc = s_sync_dir (self);
        self->active_new = rc != CW_OK;
    }
    self->len = 0;
    return rc;
}

void
cw_segments_discard (cw_segments_t *self)
{
    if (self) {
        self->len = 0;
        self->placed = false;
    }
}

size_t
cw_segments_pending (const cw_segments_t *self)
{
    return self ? self->len : 0;
}

/*  A descriptor for segment, from the small cache or newly opened; -1 with the error set. */
static int
s_fd (cw_segments_t *self, uint32_t segment, int *rc)
{
    for (size_t i = 0; i < S_FDS; i++)
        if (self->fds [i].fd >= 0 && self->fds [i].segment == segment)
            return self->fds [i].fd;
    char path [PATH_MAX];
    s_path (self, segment, path, sizeof path);
    int fd = open (path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        *rc = s_fail (self, segment, "open", err);
        if (err == ENOENT)
            *rc = CW_ENOENT;
        return -1;
    }
    s_fd_t *slot = &self->fds [self->fd_next];
    self->fd_next = (self->fd_next + 1) % S_FDS;
    if (slot->fd >= 0)
        close (slot->fd);
    slot->fd = fd;
    slot->segment = segment;
    return fd;
}

int
cw_segments_read (cw_segments_t *self, uint32_t segment, uint64_t offset, size_t len,
                  uint8_t *out)
{
    if (!self || (!out && len) || len > CW_SEGMENT_PAYLOAD_MAX || offset > INT64_MAX - len)
        return CW_EINVAL;
    int rc = CW_OK;
    int fd = s_fd (self, segment, &rc);
    if (fd < 0)
        return CW_EIO;      /* a committed row points into a file that is gone */
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread (fd, out + done, len - done, (off_t) (offset + done));
        if (n > 0)
            done += (size_t) n;
        else if (n == 0)
            return s_fail (self, segment, "read", EIO), CW_EIO;    /* cut short */
        else if (errno != EINTR)
            return s_fail (self, segment, "read", errno), CW_EIO;
    }
    return CW_OK;
}

int
cw_segments_size (cw_segments_t *self, uint32_t segment, uint64_t *size)
{
    if (!self || !size)
        return CW_EINVAL;
    char path [PATH_MAX];
    s_path (self, segment, path, sizeof path);
    struct stat st;
    if (stat (path, &st) != 0)
        return errno == ENOENT ? (s_fail (self, segment, "missing", ENOENT), CW_ENOENT)
                               : s_fail (self, segment, "stat", errno);
    *size = (uint64_t) st.st_size;
    return CW_OK;
}

int
cw_segments_wipe (cw_segments_t *self, uint32_t segment, uint64_t offset, size_t len)
{
    if (!self || len > CW_SEGMENT_PAYLOAD_MAX || offset > INT64_MAX - len)
        return CW_EINVAL;
    if (len == 0)
        return CW_OK;
    int rc = CW_OK;
    int fd = s_fd (self, segment, &rc);
    if (fd < 0)
        return rc == CW_ENOENT ? CW_OK : rc;
    if (fallocate (fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t) offset, (off_t) len)
        == 0)
        return CW_OK;
    if (errno != EOPNOTSUPP && errno != ENOSYS)
        return s_fail (self, segment, "punch hole", errno);
    static const uint8_t zeros [4096];
    size_t done = 0;
    while (done < len) {
        size_t chunk = len - done < sizeof zeros ? len - done : sizeof zeros;
        ssize_t n = pwrite (fd, zeros, chunk, (off_t) (offset + done));
        if (n > 0)
            done += (size_t) n;
        else if (n == 0 || errno != EINTR)
            return s_fail (self, segment, "wipe", n == 0 ? EIO : errno);
    }
    return CW_OK;
}

const char *
cw_segments_error (const cw_segments_t *self)
{
    return self ? self->error : "";
}
