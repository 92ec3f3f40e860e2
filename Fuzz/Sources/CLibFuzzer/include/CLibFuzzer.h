#ifndef CLIBFUZZER_H
#define CLIBFUZZER_H

#include <stddef.h>
#include <stdint.h>

// libFuzzer's entry for programs that have their own main (llvm.org/docs/LibFuzzer.html,
// "Using libFuzzer as a library"). SwiftPM links a Swift executable with main renamed to
// <module>_main, so each fuzz target defines that and hands over here.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
