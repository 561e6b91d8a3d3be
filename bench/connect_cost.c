/* The kernel's CPU cost of a bare TCP connection on loopback: connect() and close() in a loop,
 * CPU from getrusage. bench/README.md ("What a probe's CPU is made of") uses it:
 *   gcc -O2 -o /tmp/connect_cost bench/connect_cost.c && /tmp/connect_cost PORT 5000 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/resource.h>
int main(int argc, char **argv) {
  int port = atoi(argv[1]), n = atoi(argv[2]);
  struct sockaddr_in a = {0}; a.sin_family = AF_INET; a.sin_port = htons(port); inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  for (int i = 0; i < n; i++) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); return 1; }
    close(s);
  }
  struct rusage u; getrusage(RUSAGE_SELF, &u);
  double cpu = u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
  printf("%d connections: %.3f ms CPU each (user %.3f s, sys %.3f s)\n", n, cpu * 1e3 / n, u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6, u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6);
  return 0;
}
