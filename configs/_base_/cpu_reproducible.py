# The same sums on every run of a CPU config, on an idle or a busy machine (mmseg_ranet.utils.cpu_numerics):
# one fixed torch thread (on a 2-core machine 1 thread is 1.6x slower than 2 when idle, but 5x faster when
# another job holds a core) and deterministic algorithms; data loading is seeded by randomness.seed.
# oneDNN stays on: turning it off (onednn=False) made an iteration slower and does not make two CPUs agree
# (PyTorch's and MKL's kernels still sum in the order of the CPU's vector width; README, "Two commands").
# MMSEG_RANET_THREADS=N overrides the thread count (and then gives that count's result).
cpu_numerics = dict(threads=1, deterministic=True)
