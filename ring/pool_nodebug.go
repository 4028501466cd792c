//go:build !sttdebug

package ring

// poolDebug is empty without the sttdebug tag: its methods are no-ops the
// compiler inlines away, so release builds pay nothing for the debug checks.
type poolDebug struct{}

func (poolDebug) init(maxBufs int)                    {}
func (poolDebug) carved(mem []byte)                   {}
func (poolDebug) issued(idx uint32, b []byte) fault   { return faultNone }
func (poolDebug) returned(idx uint32, b []byte) fault { return faultNone }
