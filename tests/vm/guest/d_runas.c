// SPDX-License-Identifier: MIT
/*
 * d_runas UID GID[,GID...] CMD [ARGS]: run CMD as an unprivileged user (VM
 * tests): the first GID primary, all of them supplementary.
 */
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	gid_t g[16];
	size_t n = 0;
	char *p, *save = NULL;

	if (argc < 4) {
		fprintf(stderr, "usage: d_runas UID GID[,GID...] CMD [ARGS]\n");
		return 2;
	}
	for (p = strtok_r(argv[2], ",", &save); p && n < 16; p = strtok_r(NULL, ",", &save))
		g[n++] = (gid_t)atoi(p);
	if (!n || setgroups(n, g) || setgid(g[0]) || setuid((uid_t)atoi(argv[1]))) {
		perror("d_runas");
		return 1;
	}
	execvp(argv[3], argv + 3);
	perror(argv[3]);
	return 127;
}
