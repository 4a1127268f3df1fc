package docker

// MountSocketDirForBench mounts one socket directory as Start does, and
// returns its unmount as Remove does.
func MountSocketDirForBench(dir string) (unmount func() error, err error) {
	if err := mountSocketDir(dir, "uid=65534,gid=65534,"); err != nil {
		return nil, err
	}
	return func() error { return unmountSocketDir(dir) }, nil
}
