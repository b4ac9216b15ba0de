"""How long a local Ray takes to start here, through `co2net.sweep.start_local_ray` (the start `co2net sweep` uses:
a new temporary folder per start, a failed start cleaned up and tried again), and whether any process is left after
it is stopped. On a busy machine Ray's own fixed start-up waits can run out; the lines then say so.

Usage: python bench/ray_start.py [--starts 3] [--cpus 2] [--tries 2]
"""
import argparse, os, time

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--starts', type=int, default=3, help='starts to time')
    ap.add_argument('--cpus', type=int, default=2, help='CPUs of the local Ray')
    ap.add_argument('--tries', type=int, default=2, help='tries per start')
    args = ap.parse_args(argv)
    from co2net.sweep import start_local_ray, stop_local_ray, RayStartError, _pids_with
    print(f'{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} at the start')
    for i in range(args.starts):
        t0 = time.perf_counter()
        try: tmp = start_local_ray(args.cpus, tries=args.tries, log=lambda m: print('   ', m, flush=True))
        except RayStartError as e:
            print(f'start {i + 1}: FAILED after {time.perf_counter() - t0:.1f} s: {e.reason}', flush=True); continue
        up = time.perf_counter() - t0
        t1 = time.perf_counter(); ended = stop_local_ray(tmp); down = time.perf_counter() - t1
        print(f'start {i + 1}: up in {up:.1f} s, stopped in {down:.1f} s; {ended} process(es) had to be ended after '
              f'ray.shutdown(), {len(_pids_with(tmp))} left (load average {os.getloadavg()[0]:.1f})', flush=True)

if __name__ == '__main__': main()
