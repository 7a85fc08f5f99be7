/* SPDX-License-Identifier: MIT */
/* fuzz_node_sealed.c - fuzz_node.c with a keyring: see FUZZ_SEALED there. */
#define FUZZ_SEALED 1
#include "fuzz_node.c"
