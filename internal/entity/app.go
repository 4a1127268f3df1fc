package entity

// App is a deployed web app (ADR 010): one unit of code whose routes,
// declared by the app itself through its runtime's /register, are served
// under /apps/{name}/. App names are unique across namespaces.
type App struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Action is the code revision every request runs: kind, main (the WSGI
	// object, "module:attr"), code digest and limits. It is not one of the
	// namespace's actions; its Revision keys the app's warm containers.
	Action Action `json:"action"`
	// Routes is the route table the app registered, in its own order.
	Routes []AppRoute `json:"routes"`
	// Registration is the id of the activation that ran /register.
	Registration string `json:"registration"`
	// Revision is the KV revision of the app's entry (0 before it is stored).
	Revision uint64 `json:"revision"`
	// Updated is the time of the deploy in Unix milliseconds.
	Updated int64 `json:"updated"`
}

// AppRoute is one rule of an app's route table.
type AppRoute struct {
	// Methods are the HTTP methods the rule serves, upper case.
	Methods []string `json:"methods"`
	// Rule is the path as the app declares it, e.g. "/users/<int:id>".
	Rule string `json:"rule"`
	// Endpoint names the view that serves the rule; requests for one
	// endpoint share warm containers.
	Endpoint string `json:"endpoint"`
	// Path is Rule as a Flurry route pattern (ADR 009), e.g. "/users/{id}".
	Path string `json:"path"`
}
