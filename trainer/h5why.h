/* h5why — the reason HDF5 gives for its last failure, for error messages of the trainer's HDF5
 * files (checkpoints, rollout logs). Private to trainer/. */
#ifndef RLVR_TRAINER_H5WHY_H
#define RLVR_TRAINER_H5WHY_H

#include <stddef.h>

/* The innermost message of HDF5's error stack ("No space left on device") into buf, and clear the
 * stack. Returns buf; "unknown HDF5 error" when the stack is empty. */
const char *h5_why(char *buf, size_t cap);

#endif
