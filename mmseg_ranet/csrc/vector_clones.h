// Shared helpers of the compiled CPU operators.
#pragma once

// Runtime dispatch to the widest vector unit the CPU has while the binary stays portable (built without
// -march=native, so a wheel or a shared cache works on older x86-64 machines too). The clones are the
// x86-64 micro-architecture levels rather than single extensions: "avx2" alone does not enable FMA, and the
// polynomial logarithm of the Jensen-Shannon kernel is a chain of multiply-adds.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(RANET_NO_VECTOR_CLONES)
#define RANET_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define RANET_VECTOR_CLONES
#endif
