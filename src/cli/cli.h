// Subcommands of the vkdream CLI. Each returns the process exit code: 0 success,
// 1 failure (message already printed), 2 usage error.
#ifndef VKD_CLI_H
#define VKD_CLI_H

int cmd_info(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_view(int argc, char **argv);
int cmd_render(int argc, char **argv);

// Print "vkdream: <message>" for the last error (and a hint when given) to stderr.
int cli_error(const char *hint);

#endif
