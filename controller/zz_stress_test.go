package controller_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/flurryfn/flurry/internal/entity"
	"github.com/flurryfn/flurry/internal/testutil"
)

func TestZZStress(t *testing.T) {
	e := newEnv(t, msgConfig())
	mi := startMsgInvoker(t, e.nc, nil)
	e.stream(t, "ST", "st.>")
	e.msgTrigger(t, "st", entity.NATSSource{Subject: "st.in", Stream: "ST"})
	const n = 5000
	for i := range n {
		_, err := e.js.PublishAsync("st.in", fmt.Appendf(nil, `{"i":%d}`, i))
		must(t, err)
	}
	<-e.js.PublishAsyncComplete()
	start := time.Now()
	testutil.CheckFor(t, 120*time.Second, 100*time.Millisecond, func() error {
		if got := len(mi.all()); got < n {
			info := e.consumerInfo(t, "ST", "st")
			return fmt.Errorf("%d of %d; ackpending %d pending %d redelivered %d floor %d", got, n, info.NumAckPending, info.NumPending, info.NumRedelivered, info.AckFloor.Stream)
		}
		return nil
	})
	t.Logf("took %v", time.Since(start))
}
