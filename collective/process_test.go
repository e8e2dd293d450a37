package collective

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// With COLLECTIVE_TEST_CHILD set, the test binary is a rank process of
// TestProcessKilledMidOperation instead.
func TestMain(m *testing.M) {
	if os.Getenv("COLLECTIVE_TEST_CHILD") != "" {
		os.Exit(childRank())
	}
	os.Exit(m.Run())
}

// childRank all-reduces until something fails, then prints the error.
func childRank() int {
	atoi := func(k string) int { v, _ := strconv.Atoi(os.Getenv(k)); return v }
	ring, store, err := Connect(context.Background(), Options{
		Rank: atoi("RANK"), Size: atoi("WORLD_SIZE"), MasterAddr: "127.0.0.1", MasterPort: atoi("MASTER_PORT"),
		Token: "t", Timeout: 20 * time.Second, Transport: Transport(os.Getenv("TRANSPORT")),
	})
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	defer store.Close()
	defer ring.Close()
	buf := make(Host, 1<<22)
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := ring.AllReduce(ctx, buf, Sum)
		cancel()
		if err != nil {
			fmt.Println("ERR", err)
			return 3
		}
		if i == 2 {
			fmt.Println("running")
		}
	}
}

// TestProcessKilledMidOperation kills one of three rank processes with
// SIGKILL during a stream of all-reduces: the other two must fail within
// seconds (not at their one-minute deadline) with errors naming a peer.
func TestProcessKilledMidOperation(t *testing.T) {
	for _, transport := range []Transport{TransportAuto, TransportTCP} {
		t.Run(string(transport), func(t *testing.T) {
			const n = 3
			port := freePort(t)
			cmds := make([]*exec.Cmd, n)
			lines := make([]chan string, n)
			for r := range n {
				cmd := exec.Command(os.Args[0])
				cmd.Env = append(os.Environ(), "COLLECTIVE_TEST_CHILD=1", "TRANSPORT="+string(transport),
					"RANK="+strconv.Itoa(r), "WORLD_SIZE="+strconv.Itoa(n), "MASTER_PORT="+strconv.Itoa(port))
				out, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
				cmds[r] = cmd
				lines[r] = make(chan string, 16)
				go func() {
					sc := bufio.NewScanner(out)
					for sc.Scan() {
						lines[r] <- sc.Text()
					}
					close(lines[r])
				}()
			}
			for r := range n {
				select {
				case l := <-lines[r]:
					if l != "running" {
						t.Fatalf("rank %d: %s", r, l)
					}
				case <-time.After(20 * time.Second):
					t.Fatalf("rank %d never got going", r)
				}
			}
			start := time.Now()
			cmds[1].Process.Signal(syscall.SIGKILL)
			// The first survivor to notice names rank 1; the other may see
			// that survivor's sockets close first and name it instead.
			namedKilled := false
			for _, r := range []int{0, 2} {
				select {
				case l := <-lines[r]:
					if !strings.HasPrefix(l, "ERR ") || !strings.Contains(l, "closed the connection") {
						t.Errorf("rank %d: %q does not say a peer closed the connection", r, l)
					}
					namedKilled = namedKilled || strings.Contains(l, "rank 1 closed the connection")
					t.Logf("rank %d after %v: %s", r, time.Since(start).Round(time.Millisecond), l)
				case <-time.After(10 * time.Second):
					t.Fatalf("rank %d still running 10s after rank 1 was killed", r)
				}
			}
			if !namedKilled {
				t.Error("no survivor named rank 1")
			}
		})
	}
}
