// Whole-file reads and atomic file writes.
//
// Every output file of vkdream (checkpoints, meshes, images, reports) goes through
// vkd_afile_*: the bytes go to a temporary file `PATH.tmp.XXXXXX` in the same directory,
// which is fsync'ed and renamed over PATH, and then the directory is fsync'ed. A crash, a
// full disk or any other failure therefore leaves either the complete old file or the
// complete new one, never a torn mix, and no temporary file behind (except after a crash
// or kill in the middle, where the leftover temp name says what it is).
#ifndef VKD_FILEIO_H
#define VKD_FILEIO_H

#include <stddef.h>

#include "status.h"

typedef struct vkd_afile vkd_afile_t;

// Start writing PATH atomically. The new file gets mode 0666 minus the umask, like fopen.
// Fails (VKD_ERR_IO, naming PATH and the reason) when the directory does not exist or is
// not writable.
vkd_status_t vkd_afile_open(const char *path, vkd_afile_t **out);
// Append n bytes (buffered). After a failure the handle stays failed: later writes and the
// commit return the same error, so a caller may check only the commit.
vkd_status_t vkd_afile_write(vkd_afile_t *f, const void *data, size_t n);
// printf-style append (text outputs such as OBJ/PLY headers and reports).
vkd_status_t vkd_afile_printf(vkd_afile_t *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
// Flush, fsync, rename over PATH, fsync the directory. Frees f whether it succeeds or not;
// on failure the temporary file is removed and the previous PATH (if any) is untouched.
vkd_status_t vkd_afile_commit(vkd_afile_t *f);
// Give up: remove the temporary file and free f. PATH is untouched. f may be NULL.
void vkd_afile_abort(vkd_afile_t *f);
// The path being written (for messages).
const char *vkd_afile_path(const vkd_afile_t *f);

// open + write + commit in one call.
vkd_status_t vkd_file_write_atomic(const char *path, const void *data, size_t n);

// Read a whole (small: configs, prompt lists; at most 1 GiB) regular file into a malloc'd
// buffer (free it). The buffer has one extra NUL byte after the n bytes, so text can be
// used as a C string. On failure *buf is NULL and *n is 0.
vkd_status_t vkd_file_read_all(const char *path, char **buf, size_t *n);

// ---- paths and directories -----------------------------------------------------------
// mkdir -p: dir and its missing parents (mode 0777 minus the umask). VKD_ERR_IO naming the
// part that could not be created, or dir when it exists but is not a directory.
vkd_status_t vkd_mkdir_p(const char *dir);
// The directory part of path into dir: "." when path has no slash, "/" for "/name".
void vkd_dir_of(const char *path, char *dir, size_t cap);
// out = "a/b"; VKD_ERR_INVALID when it does not fit in cap.
vkd_status_t vkd_path_join(char *out, size_t cap, const char *a, const char *b);

#endif
