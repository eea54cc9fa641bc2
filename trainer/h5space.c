/* h5space — see h5space.h. */
#define _GNU_SOURCE /* fallocate, memfd_create */
#include "h5space.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* The file descriptor of HDF5's default driver; -1 when there is none. */
static int h5_fd(hid_t file) {
    int *fd = NULL;
    if (H5Fget_vfd_handle(file, H5P_DEFAULT, (void **)&fd) < 0 || !fd) {
        H5Eclear2(H5E_DEFAULT);
        return -1;
    }
    return *fd;
}

int h5space_reserve(hid_t file, uint64_t more, uint64_t *reserved) {
    int fd = h5_fd(file);
    haddr_t eoa = 0;
    if (fd < 0 || H5Fget_eoa(file, &eoa) < 0) {
        H5Eclear2(H5E_DEFAULT);
        errno = EBADF;
        return -1;
    }
    uint64_t end = (uint64_t)eoa + more;
    if (end <= *reserved) return 0;
    if (fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)*reserved, (off_t)(end - *reserved)) != 0) {
        if (errno != EOPNOTSUPP) return -1;
        struct statvfs v;
        struct stat st;
        if (fstatvfs(fd, &v) != 0 || fstat(fd, &st) != 0) return -1;
        uint64_t held = (uint64_t)st.st_blocks * 512, avail = (uint64_t)v.f_bavail * v.f_frsize;
        if (end > held && end - held > avail) {
            errno = ENOSPC;
            return -1;
        }
    }
    *reserved = end;
    return 0;
}

int h5space_check(const char *dir, uint64_t bytes) {
    struct statvfs v;
    if (statvfs(dir, &v) != 0 || (uint64_t)v.f_bavail * v.f_frsize >= bytes) return 0; /* the create says why */
    errno = ENOSPC;
    return -1;
}

void h5space_release(hid_t file, uint64_t *reserved) {
    int fd = h5_fd(file);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) return;
    if (ftruncate(fd, st.st_size) == 0) *reserved = (uint64_t)st.st_size; /* else the blocks stay held */
}

void h5space_discard(hid_t file) {
    int fd = h5_fd(file);
    int mem = fd >= 0 ? memfd_create("rlvr-discarded-h5", MFD_CLOEXEC) : -1;
    if (mem >= 0) {
        dup2(mem, fd);
        close(mem);
    }
    H5Fclose(file);
    H5Eclear2(H5E_DEFAULT);
}

void h5space_trim(const char *path) {
    struct stat st;
    if (stat(path, &st) == 0) {
        int rc = truncate(path, st.st_size); /* best effort: the blocks are only held, not used */
        (void)rc;
    }
}
