package prediction

import "sync"

// subscription delivers one subscriber's updates in order. The tracker's
// goroutine pushes onto an unbounded queue and never waits; the
// subscription's own goroutine (pump) hands them to the subscriber's
// channel, which it closes after the last update or on cancel. A
// subscriber that reads slowly therefore costs memory, not the
// prediction's progress.
type subscription struct {
	ch   chan Update
	wake chan struct{} // a push happened; capacity 1
	quit chan struct{} // closed by cancel
	once sync.Once

	mu    sync.Mutex
	queue []Update
	ended bool // nothing more will be pushed
}

func newSubscription() *subscription {
	return &subscription{ch: make(chan Update), wake: make(chan struct{}, 1), quit: make(chan struct{})}
}

// push queues u; last marks it as the final update.
func (s *subscription) push(u Update, last bool) {
	s.mu.Lock()
	s.queue = append(s.queue, u)
	s.ended = s.ended || last
	s.mu.Unlock()
	s.notify()
}

// end marks that nothing more will be pushed.
func (s *subscription) end() {
	s.mu.Lock()
	s.ended = true
	s.mu.Unlock()
	s.notify()
}

func (s *subscription) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *subscription) cancel() { s.once.Do(func() { close(s.quit) }) }

func (s *subscription) canceled() bool {
	select {
	case <-s.quit:
		return true
	default:
		return false
	}
}

func (s *subscription) pump() {
	defer close(s.ch)
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			ended := s.ended
			s.mu.Unlock()
			if ended {
				return
			}
			select {
			case <-s.wake:
				continue
			case <-s.quit:
				return
			}
		}
		u := s.queue[0]
		s.queue[0] = Update{} // let the queue's array forget it
		s.queue = s.queue[1:]
		s.mu.Unlock()
		select {
		case s.ch <- u:
		case <-s.quit:
			return
		}
	}
}
