package api

import "net/http"

// whoamiView says what a token is: the admin's, or the token of one solution.
type whoamiView struct {
	Admin    bool   `json:"admin"`
	Solution string `json:"solution,omitempty"`
}

// whoami answers GET /api/v1/whoami, so that a client (the console, the CLI) learns what its
// token may do without trying something it may not.
func (s *Server) whoami(w http.ResponseWriter, _ *http.Request, p principal) {
	writeJSON(w, http.StatusOK, whoamiView{Admin: p.admin, Solution: p.solution})
}
