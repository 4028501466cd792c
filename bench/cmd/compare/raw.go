package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"time"
)

// Raw UDP: no crypto, no reliability. The receiver counts what arrives;
// the sender blasts datagrams, then asks for the count until answered.
const (
	rawDatagram = 1452 // STT's default maximum datagram, for a like-for-like packet size
	rawData     = 'D'
	rawFin      = 'F'
	rawPing     = 'P'
	rawFinWait  = 50 * time.Millisecond // resend FIN after this long
)

// rawServer counts data bytes per source and answers FIN with the count,
// echoes pings.
func rawServer() (*net.UDPConn, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	c.SetReadBuffer(4 << 20)
	go func() {
		counts := map[string]uint64{}
		buf := make([]byte, 65536)
		var out [8]byte
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if n == 0 {
				continue
			}
			k := from.String()
			switch buf[0] {
			case rawData:
				counts[k] += uint64(n)
			case rawFin:
				binary.BigEndian.PutUint64(out[:], counts[k])
				delete(counts, k)
				c.WriteToUDP(out[:], from)
			case rawPing:
				c.WriteToUDP(buf[:n], from)
			}
		}
	}()
	return c, nil
}

// rawBlast sends n bytes in datagrams of size sz and returns the bytes the
// server counted.
func rawBlast(ctx context.Context, to *net.UDPAddr, n int64, sz int) (uint64, error) {
	c, err := net.DialUDP("udp", nil, to)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetWriteBuffer(4 << 20)
	buf := make([]byte, sz)
	buf[0] = rawData
	for sent := int64(0); sent < n; sent += int64(sz) {
		c.Write(buf)
	}
	var ans [8]byte
	for ctx.Err() == nil {
		c.Write([]byte{rawFin})
		c.SetReadDeadline(time.Now().Add(rawFinWait))
		if k, err := c.Read(ans[:]); err == nil && k == 8 {
			return binary.BigEndian.Uint64(ans[:]), nil
		}
	}
	return 0, ctx.Err()
}

func runRaw(ctx context.Context, p params, res *results) error {
	srv, err := rawServer()
	if err != nil {
		return err
	}
	defer srv.Close()
	to := srv.LocalAddr().(*net.UDPAddr)

	cpu0 := cpuTime()
	start := time.Now()
	got, err := rawBlast(ctx, to, p.size, rawDatagram)
	if err != nil {
		return err
	}
	d := time.Since(start)
	res.bulk1 = append(res.bulk1, gbits(int64(got), d))
	res.cpu = append(res.cpu, (cpuTime()-cpu0).Seconds()/(float64(got)/(1<<30)))
	res.loss = append(res.loss, 100*(1-float64(got)/float64(p.size)))

	var wg sync.WaitGroup
	var mu sync.Mutex
	var total uint64
	start = time.Now()
	for range bulkStreams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g, _ := rawBlast(ctx, to, p.size/bulkStreams, rawDatagram)
			mu.Lock()
			total += g
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.bulk4 = append(res.bulk4, gbits(int64(total), time.Since(start)))

	start = time.Now()
	got, err = rawBlast(ctx, to, int64(p.messages)*msgLen, msgLen)
	if err != nil {
		return err
	}
	res.msgs = append(res.msgs, float64(got/msgLen)/time.Since(start).Seconds())

	c, err := net.DialUDP("udp", nil, to)
	if err != nil {
		return err
	}
	defer c.Close()
	var m, back [msgLen]byte
	m[0] = rawPing
	rtts := make([]time.Duration, 0, p.rtt)
	for len(rtts) < p.rtt {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		t0 := time.Now()
		c.Write(m[:])
		c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c.Read(back[:]); err != nil {
			continue // lost: try again
		}
		rtts = append(rtts, time.Since(t0))
	}
	res.p50 = append(res.p50, us(pct(rtts, 0.50)))
	res.p99 = append(res.p99, us(pct(rtts, 0.99)))
	if len(rtts) == 0 {
		return fmt.Errorf("no ping answered")
	}
	return nil
}
