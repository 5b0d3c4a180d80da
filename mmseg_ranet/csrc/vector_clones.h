// Shared helpers of the compiled CPU operators.
#pragma once

// Runtime dispatch to the widest vector unit the CPU has while the binary stays portable (built without
// -march=native, so a wheel or a shared cache works on older x86-64 machines too).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(RANET_NO_VECTOR_CLONES)
#define RANET_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define RANET_VECTOR_CLONES
#endif
