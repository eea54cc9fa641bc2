/* tboard — TensorBoard event files: scalars and text written as TensorFlow `Event` protobufs in
 * the TFRecord framing, to `<dir>/events.out.tfevents.<unix time>.<host>`, which TensorBoard reads
 * while the run writes it.
 *
 * Each record is: uint64 length, uint32 masked CRC32C of those 8 bytes, the serialized Event,
 * uint32 masked CRC32C of the Event (all little-endian; mask: rotate right 15, add 0xa282ead8).
 * The first Event carries file_version "brain.Event:2", the second a SessionLog START; a scalar
 * is a Summary.Value with a float simple_value; a text is a Summary.Value with a scalar DT_STRING
 * tensor and the plugin name "text", which TensorBoard's text plugin renders as Markdown. The
 * protobuf is encoded by hand (varints, fixed64 wall time, length-delimited messages): no
 * protobuf library.
 * Deliberately not here: histograms, images, graphs, reading event files back (the test suite
 * has its own independent reader, tests/tfevents_check.py), and threads (one writer per file). */
#ifndef RLVR_TBOARD_H
#define RLVR_TBOARD_H

#include <stddef.h>
#include <stdint.h>

typedef struct tboard tboard;

/* Create dir if missing and a new event file in it, starting with the file_version event and a
 * SessionLog START at step resume_step + 1. resume_step is 0 for a fresh run, k when the run
 * continues after step k: TensorBoard then drops what earlier files of the directory logged
 * after step k (a crashed run's steps past its last checkpoint). NULL with err_set naming the
 * path. */
tboard *tboard_open(const char *dir, int64_t resume_step);
/* One scalar (stored as float32, as TensorBoard's simple_value is). Returns 0, or -1 with err_set. */
int tboard_scalar(tboard *t, const char *tag, int64_t step, double value);
/* One text value, shown as Markdown by TensorBoard's text plugin. Returns 0, or -1 with err_set. */
int tboard_text(tboard *t, const char *tag, int64_t step, const char *text);
/* Push buffered records to the file, so a running TensorBoard sees them. 0, or -1 with err_set. */
int tboard_flush(tboard *t);
/* Flush, close and free. Returns 0, or -1 with err_set if a write failed here or earlier (a full
 * disk: the message is the failed write's, so closing on an error path repeats the cause); the
 * handle is freed either way. After a failed write every call fails: the file may end in a torn
 * record, which TensorBoard stops reading at. tboard_close(NULL) returns 0. */
int tboard_close(tboard *t);
/* The event file's path. Borrowed, valid until tboard_close. */
const char *tboard_path(const tboard *t);

/* CRC-32C (Castagnoli, reflected polynomial 0x82f63b78) of n bytes, continuing from crc (0 to
 * start), and TFRecord's mask of a CRC. Public for the tests. */
uint32_t tboard_crc32c(uint32_t crc, const void *data, size_t n);
uint32_t tboard_crc_mask(uint32_t crc);

#endif
