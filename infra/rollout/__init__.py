"""Progressive rollouts as reviewed config changes: stack file -> settings -> manifests."""
