package batch

import (
	"os"

	"golang.org/x/sys/unix"
)

// Classic-BPF ancillary load: "ld rand" reads a random 32-bit number
// (linux/filter.h SKF_AD_OFF + SKF_AD_RANDOM); x/sys/unix does not export
// these two.
const (
	skfAdOff    = 0xfffff000 // SKF_AD_OFF, (-0x1000) as the uint32 K field
	skfAdRandom = 56         // SKF_AD_RANDOM
)

// steerProgram returns the reuseport program for a group of n sockets. A
// reuseport program runs with the UDP header already pulled, so offset 0 is
// the first payload byte (net/core/sock_reuseport.c run_bpf_filter), and
// its return value is the index of the socket in the group (out-of-range
// values fall back to the kernel's hash). It makes steerIndex's decision:
//
//	0: ldb [1]              A = kind byte
//	1: and #0x0f            A = kind
//	2: jeq #2, 3, 6         TRANSPORT?
//	3: ld [6]               A = low 32 bits of the session ID (big-endian load)
//	4: mod #n
//	5: ret a                socket = session ID mod n
//	6: ld rand              anything else (handshakes): a random socket
//	7: mod #n
//	8: ret a
//
// A packet too short for a load ends the program with 0 (socket 0), as
// classic BPF defines.
func steerProgram(n int) []unix.SockFilter {
	return []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: kindOffset},
		{Code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, K: kindMask},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: uint32(kindTransport), Jt: 0, Jf: 3},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: steerOffset},
		{Code: unix.BPF_ALU | unix.BPF_MOD | unix.BPF_K, K: uint32(n)},
		{Code: unix.BPF_RET | unix.BPF_A},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: skfAdOff + skfAdRandom},
		{Code: unix.BPF_ALU | unix.BPF_MOD | unix.BPF_K, K: uint32(n)},
		{Code: unix.BPF_RET | unix.BPF_A},
	}
}

// attachSteering attaches steerProgram(n) to c's reuseport group. Call it
// after all n sockets are bound so the indices are final.
func attachSteering(c *conn, n int) error {
	prog := steerProgram(n)
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	var serr error
	if err := c.rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF, &fprog)
	}); err != nil {
		return err
	}
	return os.NewSyscallError("setsockopt SO_ATTACH_REUSEPORT_CBPF", serr)
}
