# The same sums on every run of a CPU config, on an idle or a busy machine (mmseg_ranet.utils.cpu_numerics):
# one fixed torch thread (on a 2-core machine 1 thread is 1.6x slower than 2 when idle, but 5x faster when
# another job holds a core), oneDNN off for the convolutions, deterministic algorithms. Data loading is
# seeded by the schedule's randomness.seed. MMSEG_RANET_THREADS=N overrides the thread count.
cpu_numerics = dict(threads=1, onednn=False, deterministic=True)
