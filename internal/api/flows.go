package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/switchboardhq/switchboard/internal/hosted"
)

func (s *Server) handleFlows() {
	s.handle("GET /api/v1/solutions/{solution}/flows", s.owner(s.listFlows))
	s.handle("POST /api/v1/solutions/{solution}/flows", s.owner(s.putFlow))
	s.handle("GET /api/v1/solutions/{solution}/flows/{name}", s.owner(s.getFlow))
	s.handle("PUT /api/v1/solutions/{solution}/flows/{name}", s.owner(s.putFlow))
	s.handle("DELETE /api/v1/solutions/{solution}/flows/{name}", s.owner(s.deleteFlow))
	s.handle("GET /api/v1/solutions/{solution}/nodes", s.owner(s.listNodes))
	s.handle("POST /api/v1/solutions/{solution}/nodes", s.owner(s.createNode))
	s.handle("GET /api/v1/solutions/{solution}/nodes/{name}", s.owner(s.getNode))
	s.handle("PATCH /api/v1/solutions/{solution}/nodes/{name}", s.owner(s.updateNode))
	s.handle("DELETE /api/v1/solutions/{solution}/nodes/{name}", s.owner(s.deleteNode))
	s.handle("POST /api/v1/solutions/{solution}/nodes/{name}/restart", s.owner(s.restartNode))
	s.handle("POST /api/v1/solutions/{solution}/nodes/{name}/token", s.owner(s.nodeToken))
	s.handle("GET /api/v1/solutions/{solution}/nodes/{name}/assignment", s.owner(s.nodeAssignment))
	// Nodes sign in with their provisioning token, not a bearer token.
	s.handle("POST /api/v1/nodes/signin", s.nodeSignIn)
}

// flowBody is a flow as written: a PUT's name, if given, is the path's.
type flowBody struct {
	Name        *string           `json:"name"`
	Description string            `json:"description"`
	Instances   []hosted.Instance `json:"instances"`
}

func (s *Server) listFlows(w http.ResponseWriter, r *http.Request, _ principal) {
	writeJSON(w, http.StatusOK, list[hosted.Flow]{Items: s.opt.Hosted.Flows(r.PathValue("solution"))})
}

// putFlow answers POST …/flows (create, 201) and PUT …/flows/{name} (replace, 200).
func (s *Server) putFlow(w http.ResponseWriter, r *http.Request, _ principal) {
	var body flowBody
	release, err := s.decode(w, r, &body)
	defer release()
	if err != nil {
		writeErr(w, err)
		return
	}
	create, name := r.Method == http.MethodPost, r.PathValue("name")
	switch {
	case create && body.Name == nil:
		writeErr(w, errorf(http.StatusBadRequest, "name", "name: required"))
		return
	case create:
		name = *body.Name
	case body.Name != nil && *body.Name != name:
		writeErr(w, errorf(http.StatusBadRequest, "name", "name %q is not the path's %q: a flow is renamed by creating another", *body.Name, name))
		return
	}
	sol := r.PathValue("solution")
	f := hosted.Flow{Name: name, Description: body.Description, Instances: body.Instances}
	ctx := context.WithoutCancel(r.Context())
	status := http.StatusOK
	if create {
		f, err = s.opt.Hosted.CreateFlow(ctx, sol, f)
		status = http.StatusCreated
	} else {
		f, err = s.opt.Hosted.UpdateFlow(ctx, sol, f)
	}
	if err != nil {
		writeErr(w, hostedErr(err))
		return
	}
	s.opt.Logger.Info("flow stored", "solution", sol, "flow", f.Name, "instances", len(f.Instances))
	writeJSON(w, status, f)
}

func (s *Server) getFlow(w http.ResponseWriter, r *http.Request, _ principal) {
	f, ok := s.opt.Hosted.GetFlow(r.PathValue("solution"), r.PathValue("name"))
	if !ok {
		writeErr(w, errorf(http.StatusNotFound, "name", "no flow %q", r.PathValue("name")))
		return
	}
	writeJSON(w, http.StatusOK, f)
}

func (s *Server) deleteFlow(w http.ResponseWriter, r *http.Request, _ principal) {
	sol, name := r.PathValue("solution"), r.PathValue("name")
	if err := s.opt.Hosted.DeleteFlow(context.WithoutCancel(r.Context()), sol, name); err != nil {
		writeErr(w, hostedErr(err))
		return
	}
	s.opt.Logger.Info("flow deleted", "solution", sol, "flow", name)
	w.WriteHeader(http.StatusNoContent)
}

// nodeView is a node with its state; Token is its provisioning token, once, when issued.
type nodeView struct {
	hosted.NodeStatus
	Token string `json:"token,omitempty"`
}

func (s *Server) listNodes(w http.ResponseWriter, r *http.Request, _ principal) {
	out := list[hosted.NodeStatus]{Items: []hosted.NodeStatus{}}
	for _, n := range s.opt.Hosted.Nodes(r.PathValue("solution")) {
		out.Items = append(out.Items, s.opt.Hosted.Status(n))
	}
	writeJSON(w, http.StatusOK, out)
}

// createNode answers POST …/nodes: the node with its provisioning token, shown this once.
func (s *Server) createNode(w http.ResponseWriter, r *http.Request, _ principal) {
	var body struct {
		Name *string  `json:"name"`
		Tags []string `json:"tags"`
	}
	release, err := s.decode(w, r, &body)
	defer release()
	if err != nil {
		writeErr(w, err)
		return
	}
	if body.Name == nil {
		writeErr(w, errorf(http.StatusBadRequest, "name", "name: required"))
		return
	}
	sol := r.PathValue("solution")
	n, token, err := s.opt.Hosted.CreateNode(context.WithoutCancel(r.Context()), sol, *body.Name, body.Tags)
	if err != nil {
		writeErr(w, hostedErr(err))
		return
	}
	s.opt.Logger.Info("node created", "solution", sol, "node", n.Name)
	writeJSON(w, http.StatusCreated, nodeView{NodeStatus: s.opt.Hosted.Status(n), Token: token})
}

func (s *Server) getNode(w http.ResponseWriter, r *http.Request, _ principal) {
	n, ok := s.opt.Hosted.GetNode(r.PathValue("solution"), r.PathValue("name"))
	if !ok {
		writeErr(w, errorf(http.StatusNotFound, "name", "no node %q", r.PathValue("name")))
		return
	}
	writeJSON(w, http.StatusOK, s.opt.Hosted.Status(n))
}

// updateNode answers PATCH …/nodes/{name}: {tags?, disabled?}.
func (s *Server) updateNode(w http.ResponseWriter, r *http.Request, _ principal) {
	var body struct {
		Tags     *[]string `json:"tags"`
		Disabled *bool     `json:"disabled"`
	}
	release, err := s.decode(w, r, &body)
	defer release()
	if err != nil {
		writeErr(w, err)
		return
	}
	if body.Tags == nil && body.Disabled == nil {
		writeErr(w, errorf(http.StatusBadRequest, "tags", "tags or disabled: required (what to change)"))
		return
	}
	sol, name := r.PathValue("solution"), r.PathValue("name")
	s.writeNode(w, sol, name, "node updated")(s.opt.Hosted.UpdateNode(context.WithoutCancel(r.Context()), sol, name, hosted.NodeChange{Tags: body.Tags, Disabled: body.Disabled}))
}

// restartNode answers POST …/nodes/{name}/restart: its generation goes up, and its runtime
// restarts every instance on it.
func (s *Server) restartNode(w http.ResponseWriter, r *http.Request, _ principal) {
	sol, name := r.PathValue("solution"), r.PathValue("name")
	s.writeNode(w, sol, name, "node restarted")(s.opt.Hosted.RestartNode(context.WithoutCancel(r.Context()), sol, name))
}

// writeNode answers with a changed node, or why it was not changed.
func (s *Server) writeNode(w http.ResponseWriter, sol, name, what string) func(hosted.Node, error) {
	return func(n hosted.Node, err error) {
		if err != nil {
			writeErr(w, hostedErr(err))
			return
		}
		s.opt.Logger.Info(what, "solution", sol, "node", name, "disabled", n.Disabled, "generation", n.Generation)
		writeJSON(w, http.StatusOK, s.opt.Hosted.Status(n))
	}
}

// nodeToken answers POST …/nodes/{name}/token: a new provisioning token, shown this once; the
// node's credential is revoked.
func (s *Server) nodeToken(w http.ResponseWriter, r *http.Request, _ principal) {
	sol, name := r.PathValue("solution"), r.PathValue("name")
	n, token, err := s.opt.Hosted.NewToken(context.WithoutCancel(r.Context()), sol, name)
	if err != nil {
		writeErr(w, hostedErr(err))
		return
	}
	s.opt.Logger.Info("node provisioned again", "solution", sol, "node", name)
	writeJSON(w, http.StatusOK, nodeView{NodeStatus: s.opt.Hosted.Status(n), Token: token})
}

func (s *Server) deleteNode(w http.ResponseWriter, r *http.Request, _ principal) {
	sol, name := r.PathValue("solution"), r.PathValue("name")
	if err := s.opt.Hosted.DeleteNode(context.WithoutCancel(r.Context()), sol, name); err != nil {
		writeErr(w, hostedErr(err))
		return
	}
	s.opt.Logger.Info("node deleted", "solution", sol, "node", name)
	w.WriteHeader(http.StatusNoContent)
}

// nodeAssignment answers GET …/nodes/{name}/assignment: what the node is to run, security
// values shown as "(set)".
func (s *Server) nodeAssignment(w http.ResponseWriter, r *http.Request, _ principal) {
	items, err := s.opt.Hosted.Assignment(r.PathValue("solution"), r.PathValue("name"))
	if err != nil {
		writeErr(w, hostedErr(err))
		return
	}
	writeJSON(w, http.StatusOK, list[hosted.Assigned]{Items: items})
}

// nodeSignIn answers POST /api/v1/nodes/signin {solution, node, token}: the node's credential,
// shown this once, for its provisioning token. Every refusal reads alike, whether the solution
// or node exists or not.
func (s *Server) nodeSignIn(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Solution *string `json:"solution"`
		Node     *string `json:"node"`
		Token    *string `json:"token"`
	}
	release, err := s.decode(w, r, &body)
	defer release()
	if err != nil {
		writeErr(w, err)
		return
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"solution", body.Solution}, {"node", body.Node}, {"token", body.Token}} {
		if f.v == nil || *f.v == "" {
			writeErr(w, errorf(http.StatusBadRequest, f.name, "%s: required", f.name))
			return
		}
	}
	sol, node := *body.Solution, *body.Node
	credential, err := s.opt.Hosted.SignIn(context.WithoutCancel(r.Context()), sol, node, *body.Token)
	switch {
	case errors.Is(err, hosted.ErrSignInLimited):
		s.opt.Logger.Warn("node sign-in refused: too many failures", "solution", clip(sol), "node", clip(node))
		writeErr(w, &Error{Status: http.StatusTooManyRequests, Bound: "signin_failures", Message: err.Error()})
		return
	case errors.Is(err, hosted.ErrSignIn):
		s.opt.Logger.Warn("node sign-in refused", "solution", clip(sol), "node", clip(node))
		writeErr(w, errorf(http.StatusUnauthorized, "", "%v", err))
		return
	case err != nil:
		writeErr(w, err)
		return
	}
	s.opt.Logger.Info("node signed in", "solution", sol, "node", node)
	answer := map[string]string{"credential": credential}
	if s.opt.NodeLink != nil {
		// Where and as whom the agent connects: the hub's leaf listener ("" without one).
		answer["leaf_url"], answer["leaf_user"], answer["domain"] = s.opt.NodeLink(sol, node)
	}
	writeJSON(w, http.StatusOK, answer)
}

// clip is at most 64 bytes of what an unauthenticated caller sent, for the log.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
