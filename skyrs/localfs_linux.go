package skyrs

import "golang.org/x/sys/unix"

// localFileSystems are the file systems whose reads of cached or local data
// cannot stall on another machine or a user-space daemon: a call that keeps
// Python's GIL may read from them (pyexport.ReadLastNLinesTextKeepingGIL).
// NFS, CIFS/SMB, FUSE (sshfs, gcsfuse, s3fs), 9p and the like are not.
var localFileSystems = map[int64]bool{
	unix.EXT4_SUPER_MAGIC:      true, // ext2, ext3, ext4
	unix.XFS_SUPER_MAGIC:       true,
	unix.BTRFS_SUPER_MAGIC:     true,
	unix.TMPFS_MAGIC:           true,
	unix.RAMFS_MAGIC:           true,
	unix.OVERLAYFS_SUPER_MAGIC: true, // container root file systems
	unix.F2FS_SUPER_MAGIC:      true,
	unix.SQUASHFS_MAGIC:        true,
	0x2fc12fc1:                 true, // ZFS (not in x/sys/unix)
}

// OnLocalFileSystem reports whether path is on one of localFileSystems.
// An error of statfs(2) reports false.
func OnLocalFileSystem(path string) bool {
	var st unix.Statfs_t
	if err := retryOnEINTR(func() error { return unix.Statfs(path, &st) }); err != nil {
		return false
	}
	return localFileSystems[int64(st.Type)]
}
