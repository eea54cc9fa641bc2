/* h5space — the trainer's HDF5 files (checkpoints, rollout logs) written so that HDF5 never meets a
 * full disk. HDF5 1.10 does not recover from a write that fails inside a flush: its metadata cache
 * stays half-flushed, every later close fails ("slist already enabled?") and the library crashes
 * at exit. So a writer first reserves the disk blocks an operation can touch (fallocate past the
 * end of the file, its size unchanged) and reports a full disk itself; and a file it gives up on is
 * closed with its descriptor pointed at an anonymous memory file, so that pending metadata goes
 * nowhere and the disk file keeps what was last flushed to it. Private to trainer/.
 * Deliberately not here: HDF5 file drivers other than the default one (sec2). */
#ifndef RLVR_TRAINER_H5SPACE_H
#define RLVR_TRAINER_H5SPACE_H

#include <hdf5.h>
#include <stdint.h>

/* Allocate the disk blocks [*reserved, EOA + more) of file, EOA being the end of the space HDF5
 * has handed out so far, so that no write HDF5 makes below that end can fail for lack of space.
 * *reserved (0 for a file just opened) is where the blocks already reserved end; it is advanced.
 * Returns 0, or -1 with errno (ENOSPC, EDQUOT, ...). Where the filesystem has no fallocate, the
 * filesystem's free space is checked instead. */
int h5space_reserve(hid_t file, uint64_t more, uint64_t *reserved);
/* Before creating a file in dir: -1 with errno ENOSPC when its filesystem has fewer than `bytes`
 * free, else 0 (also when dir cannot be asked: the create then says why). HDF5 writes when it creates a file, and a create that fails for lack of space leaks
 * its state, so a full disk is told before HDF5 is asked. */
int h5space_check(const char *dir, uint64_t bytes);
/* Give back the blocks reserved past the end of file, whose writes have all been flushed; resets
 * *reserved to its size. */
void h5space_release(hid_t file, uint64_t *reserved);
/* Close file without writing to its disk file. */
void h5space_discard(hid_t file);
/* Give back the blocks reserved past the end of the closed file at path. */
void h5space_trim(const char *path);

#endif
