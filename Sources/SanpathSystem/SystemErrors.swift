import SanpathCore

extension SanpathError.Code {
    /// A kernel feature sanpath needs is absent on this host (device-mapper, uevent netlink).
    public static let kernelFeatureMissing = SanpathError.Code("kernel-feature-missing")
    /// A device-mapper ioctl failed.
    public static let deviceMapper = SanpathError.Code("device-mapper")
    /// The map asked for does not exist (any more).
    public static let mapNotFound = SanpathError.Code("map-not-found")
    /// A line or reply from the kernel or a daemon does not have the shape sanpath reads.
    public static let malformedReply = SanpathError.Code("malformed-reply")
    /// multipathd did not answer on its socket.
    public static let multipathd = SanpathError.Code("multipathd")
    /// The udev monitor could not be set up.
    public static let udev = SanpathError.Code("udev")
}
