/* SPDX-License-Identifier: MIT */
#ifndef BNNACC_TEST_CTL_H
#define BNNACC_TEST_CTL_H
#include <check.h>

Suite *ctl_suite(void);	/* test_ctl.c: bnnaccctl's argument handling */

#endif
