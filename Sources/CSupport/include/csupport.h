#ifndef GUARDIANFLOW_CSUPPORT_H
#define GUARDIANFLOW_CSUPPORT_H
#include <spawn.h>

/// pipe2(fds, O_CLOEXEC): both ends close on exec, atomically.
int gf_pipe_cloexec(int fds[2]);

/// posix_spawn_file_actions_addchdir_np, which glibc hides behind _GNU_SOURCE.
int gf_spawn_file_actions_addchdir(posix_spawn_file_actions_t *actions, const char *path);

#endif
