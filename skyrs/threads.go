package skyrs

// kubernetesThreadMultiplier is upstream's _get_thread_multiplier for
// Kubernetes, where SkyPilot uses four threads per core.
const kubernetesThreadMultiplier = 4

// ParallelThreads returns upstream's get_parallel_threads(): max(4, cpus - 1)
// times 4 on Kubernetes, where cpus is OnlineCPUs (os.cpu_count(), 1 when
// unknown). The cloud name is compared in the Python facade; kubernetes says
// whether it matched.
func ParallelThreads(kubernetes bool) int {
	cpus := OnlineCPUs()
	if cpus < 1 {
		cpus = 1
	}
	threads := max(4, cpus-1)
	if kubernetes {
		threads *= kubernetesThreadMultiplier
	}
	return threads
}
