package script

// Lua states are expensive to build (every library table and function) and cheap to reset (a
// run's globals are one fresh table), so they are pooled. gopher-lua fixes a state's call stack
// size when it is created, so there is one pool per call-depth limit in use.

// getState takes an idle state for depth, or builds one.
func (e *Engine) getState(depth int) *state {
	if v, ok := e.pools.Load(depth); ok {
		select {
		case st := <-v.(chan *state):
			return st
		default:
		}
	}
	st := newState(e, depth)
	e.mu.Lock()
	e.states[st] = struct{}{}
	e.mu.Unlock()
	return st
}

// putState keeps st for reuse unless it is broken or the pool is full.
func (e *Engine) putState(st *state) {
	if st.broken {
		e.dropState(st)
		return
	}
	v, ok := e.pools.Load(st.depth)
	if !ok {
		v, _ = e.pools.LoadOrStore(st.depth, make(chan *state, e.opt.MaxIdleStates))
	}
	select {
	case v.(chan *state) <- st:
	default:
		e.dropState(st)
	}
}

func (e *Engine) dropState(st *state) {
	e.mu.Lock()
	delete(e.states, st)
	e.mu.Unlock()
	st.close()
}
