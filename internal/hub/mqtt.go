package hub

import (
	"context"
	"crypto/subtle"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/switchboardhq/switchboard/internal/application"
	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/connector"
	"github.com/switchboardhq/switchboard/internal/oauth"
	"github.com/switchboardhq/switchboard/internal/solution"
)

// mqttTenants answers the MQTT listener's logins from the solutions: a device logs in with
// its solution's id and token, into that solution's account.
type mqttTenants struct {
	// store is set once the solutions are open; until then every login is refused.
	store atomic.Pointer[solution.Store]
	// apps logs applications in, with their client credentials, once set.
	apps atomic.Pointer[appLogins]
}

// appLogins logs applications in to the listener: user is an application's client id, the
// password its secret or an access token of it; the application may publish (and subscribe)
// on its own topics only, {application}/…, in its solution's account.
type appLogins struct {
	auth *oauth.Authority
	apps *application.Store
}

// clientIDPrefix starts the client ids Switchboard issues.
const clientIDPrefix = "sbc_"

func (l *appLogins) login(t *mqttTenants, user, password string) bus.Grant {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var sol, appID string
	if strings.Count(password, ".") == 2 {
		c, err := l.auth.Verify(ctx, password)
		if err != nil || c.ClientID != user {
			return bus.Grant{}
		}
		sol, appID = c.Solution, c.Application
	} else {
		sa, err := l.auth.Authenticate(ctx, user, password)
		if err != nil {
			return bus.Grant{}
		}
		sol, appID = sa.Solution, sa.Application
	}
	a, ok := l.apps.Get(sol, appID)
	if !ok {
		return bus.Grant{}
	}
	return bus.Grant{Account: t.account(sol), Subjects: []string{a.Name + ".>"}}
}

// mqttAccountPrefix starts the names of a solution's MQTT accounts. The solution's token
// hash ends them, so that a solution made again under a deleted one's id gets a new account
// (the server keeps an account's MQTT state in memory until it stops).
func mqttAccountPrefix(id string) string { return "sb_" + id + "_" }

func mqttAccount(sol solution.Solution) string {
	return mqttAccountPrefix(sol.ID) + sol.TokenHash[:16]
}

// login is the account of the device logging in as user (a solution id) with password (that
// solution's token); "" for a wrong token and for an unknown solution alike.
func (t *mqttTenants) login(user, password string) bus.Grant {
	st := t.store.Load()
	if st == nil {
		return bus.Grant{}
	}
	if strings.HasPrefix(user, clientIDPrefix) {
		if l := t.apps.Load(); l != nil {
			return l.login(t, user, password)
		}
		return bus.Grant{}
	}
	id, ok := st.ByToken(password)
	if !ok || subtle.ConstantTimeCompare([]byte(id), []byte(user)) != 1 {
		return bus.Grant{}
	}
	return bus.Grant{Account: t.account(id)}
}

// account is the account of solution id, "" when there is none.
func (t *mqttTenants) account(id string) string {
	st := t.store.Load()
	if st == nil {
		return ""
	}
	sol, ok := st.Get(id)
	if !ok || len(sol.TokenHash) < 16 {
		return ""
	}
	return mqttAccount(sol)
}

// mqttBusConfig is the bus's MQTT listener for cfg; nil without --mqtt-listen.
func (h *Hub) mqttBusConfig() *bus.MQTTConfig {
	if h.cfg.MQTTListen == "" {
		return nil
	}
	return &bus.MQTTConfig{
		Listen:                   h.cfg.MQTTListen,
		Login:                    h.mqtt.login,
		Account:                  h.mqtt.account,
		MaxConnections:           h.cfg.MQTTMaxConnections,
		MaxConnectionsPerAccount: h.cfg.MQTTMaxConnectionsPerSolution,
		// What a connector stores of a message at most: a larger one could not become an event.
		MaxPayload:        connector.MaxMessageBytes,
		StoragePerAccount: h.cfg.MQTTStoragePerSolution,
		Logger:            h.log,
	}
}

// mqttListener is the listener as listener connectors read it: through the hub's own client
// of each solution.
type mqttListener struct{ h *Hub }

func (l mqttListener) Login(sol string) (addr, username, password string, err error) {
	if l.h.mqtt.account(sol) == "" {
		return "", "", "", fmt.Errorf("solution %s: %w", sol, solution.ErrNotFound)
	}
	return l.h.bus.MQTTDialAddr(), sol, l.h.bus.MQTTOwnPassword(sol), nil
}

// MQTTAddr is the address of the MQTT listener (useful with port 0), "" without one.
func (h *Hub) MQTTAddr() string {
	if h.bus == nil {
		return ""
	}
	return h.bus.MQTTAddr()
}
