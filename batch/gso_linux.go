package batch

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// UDP GSO (send) and GRO (receive), Linux ≥ 4.18 and ≥ 5.0 respectively
// (Documentation/networking/segmentation-offloads.rst, udp(7)).

// probeGSO reports whether the kernel knows UDP_SEGMENT: reading the option
// fails with ENOPROTOOPT on kernels without UDP GSO. wireguard-go and
// Tailscale probe the same way.
func probeGSO(fd int) bool {
	_, err := unix.GetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_SEGMENT)
	return err == nil
}

// enableGRO asks the kernel to deliver coalesced UDP trains with a UDP_GRO
// control message; it reports whether the kernel accepted.
func enableGRO(fd int) bool {
	return unix.SetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_GRO, 1) == nil
}

// putSegmentControl writes a UDP_SEGMENT control message carrying the GSO
// segment size into ctrl and returns the control length to pass the kernel.
func putSegmentControl(ctrl *[txControlWords]uint64, seg int) int {
	h := (*unix.Cmsghdr)(unsafe.Pointer(&ctrl[0]))
	h.Level = unix.IPPROTO_UDP // SOL_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	*(*uint16)(unsafe.Add(unsafe.Pointer(&ctrl[0]), unix.CmsgLen(0))) = uint16(seg)
	return unix.CmsgSpace(2)
}

// parseRxControl walks the control messages of one received message and
// returns the GRO segment size (0 without a UDP_GRO message) and the
// SO_RXQ_OVFL drop counter (0 without one). Malformed input ends the walk.
// ctrl must start 8-byte aligned. It does not allocate.
func parseRxControl(ctrl []byte) (seg int, drops uint32) {
	hdrLen := unix.CmsgLen(0)
	for len(ctrl) >= hdrLen {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&ctrl[0]))
		l := int(h.Len)
		if l < hdrLen || l > len(ctrl) {
			return seg, drops
		}
		data := ctrl[hdrLen:l]
		switch {
		case h.Level == unix.IPPROTO_UDP && h.Type == unix.UDP_GRO && len(data) >= 4:
			seg = int(*(*int32)(unsafe.Pointer(&data[0])))
		case h.Level == unix.SOL_SOCKET && h.Type == unix.SO_RXQ_OVFL && len(data) >= 4:
			drops = *(*uint32)(unsafe.Pointer(&data[0]))
		}
		next := unix.CmsgSpace(l - hdrLen)
		if next >= len(ctrl) {
			return seg, drops
		}
		ctrl = ctrl[next:]
	}
	return seg, drops
}
