// SPDX-License-Identifier: MIT
/* d_runas UID GID CMD [ARGS]: run CMD as an unprivileged user (VM tests). */
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	gid_t g;

	if (argc < 4) {
		fprintf(stderr, "usage: d_runas UID GID CMD [ARGS]\n");
		return 2;
	}
	g = (gid_t)atoi(argv[2]);
	if (setgroups(1, &g) || setgid(g) || setuid((uid_t)atoi(argv[1]))) {
		perror("d_runas");
		return 1;
	}
	execvp(argv[3], argv + 3);
	perror(argv[3]);
	return 127;
}
