/* The kernel's ceiling for new small files, the reference for localfs in bench/stores.sh:
 * THREADS threads each create 1 KiB files in DIR for SECONDS seconds and print files per second.
 * MODE=1 (what localfs does): O_TMPFILE, write, linkat by /proc/self/fd; MODE=0: open O_CREAT|
 * O_EXCL, write, close; MODE=2: a named temp file renamed into place. No HTTP, no fsync.
 * Usage: [MODE=n] creates DIR SECONDS THREADS */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *dir;
static double seconds;
static char body[1024];
static int mode;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void *run(void *arg) {
  long id = (long)arg, n = 0;
  char path[4096];
  double end = now() + seconds;
  while ((n & 63) || now() < end) {
    snprintf(path, sizeof path, "%s/c%ld-%ld", dir, id, n);
    if (mode == 0) {
      int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
      if (fd < 0 || write(fd, body, sizeof body) != sizeof body) { perror(path); exit(1); }
      close(fd);
    } else if (mode == 1) {
      int fd = open(dir, O_TMPFILE | O_WRONLY, 0644);
      if (fd < 0 || write(fd, body, sizeof body) != sizeof body) { perror("tmp"); exit(1); }
      char proc[64]; snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
      if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW)) { perror("linkat"); exit(1); }
      close(fd);
    } else {
      char tmp[4096]; snprintf(tmp, sizeof tmp, "%s/.tmp%ld-%ld", dir, id, n);
      int fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY, 0644);
      if (fd < 0 || write(fd, body, sizeof body) != sizeof body) { perror(tmp); exit(1); }
      close(fd);
      if (rename(tmp, path)) { perror("rename"); exit(1); }
    }
    n++;
  }
  return (void *)n;
}

int main(int argc, char **argv) {
  if (argc != 4) { fprintf(stderr, "usage: creates DIR SECONDS THREADS\n"); return 2; }
  dir = argv[1];
  seconds = atof(argv[2]);
  int threads = atoi(argv[3]);
  mode = getenv("MODE") ? atoi(getenv("MODE")) : 0;
  memset(body, 'x', sizeof body);
  pthread_t t[64];
  double start = now();
  long total = 0;
  for (long i = 0; i < threads && i < 64; i++) pthread_create(&t[i], NULL, run, (void *)i);
  for (int i = 0; i < threads && i < 64; i++) { void *n; pthread_join(t[i], &n); total += (long)n; }
  printf("%.0f\n", total / (now() - start));
  return 0;
}
