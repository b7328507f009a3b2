import SanpathCore

/// Where to read the site from: the site file, Eucalyptus' own files, and flags.
public struct SiteInputs: Sendable {
    /// `--site FILE`; when nil the default path is read if it exists.
    public var siteFile: String?
    /// The default site file, `/etc/sanpath/site.toml` (under `--root` when given).
    public var defaultSiteFile: String
    /// `--properties FILE`.
    public var properties: String?
    /// `--partition NAME`.
    public var partition: String?
    /// `--eucalyptus-conf FILE`.
    public var eucalyptusConf: String?
    /// The flags.
    public var flags: SiteFlags

    /// Creates the inputs.
    public init(
        siteFile: String? = nil, defaultSiteFile: String = "/etc/sanpath/site.toml", properties: String? = nil,
        partition: String? = nil, eucalyptusConf: String? = nil, flags: SiteFlags = SiteFlags()
    ) {
        self.siteFile = siteFile
        self.defaultSiteFile = defaultSiteFile
        self.properties = properties
        self.partition = partition
        self.eucalyptusConf = eucalyptusConf
        self.flags = flags
    }

    /// Reads every source and resolves the site. `read` returns nil for a missing file;
    /// `resolveNamed` turns a path written in the site file into a real path (given the site
    /// file's path), e.g. under `--root` or relative to the site file.
    ///
    /// Order, later winning: site file; the properties and eucalyptus.conf it names, or those
    /// given by flag; the value flags.
    public func load(
        read: (String) throws(SanpathError) -> String?,
        resolveNamed: (String, String) -> String = { path, _ in path }
    ) throws(SanpathError) -> Site {
        var layers: [SiteLayer] = []
        var namedProperties: Located<String>?
        var namedPartition: Located<String>?
        var namedConf: Located<String>?
        let sitePath = siteFile ?? defaultSiteFile
        if let text = try read(sitePath) {
            let file = try SiteFile(text: text, source: sitePath)
            layers.append(file.layer)
            namedProperties = file.properties
            namedPartition = file.partition
            namedConf = file.eucalyptusConf
        } else if siteFile != nil {
            throw SanpathError(.invalidSite, "site file \(sitePath) does not exist", at: SourceLocation(source: sitePath))
        }

        let partitionValue = partition.map { Located($0, at: SourceLocation(source: "--partition", column: 1)) } ?? namedPartition
        if let path = properties ?? namedProperties.map({ resolveNamed($0.value, sitePath) }) {
            guard let text = try read(path) else {
                throw SanpathError(
                    .invalidSite, "properties file \(path) does not exist",
                    at: properties == nil ? namedProperties?.location : SourceLocation(source: "--properties"))
            }
            layers.append(try EucalyptusProperties.layer(text, source: path, partition: partitionValue))
        } else if let partitionValue {
            throw SanpathError(.usage, "a partition was given but no properties file (--properties)", at: partitionValue.location)
        }
        if let path = eucalyptusConf ?? namedConf.map({ resolveNamed($0.value, sitePath) }) {
            guard let text = try read(path) else {
                throw SanpathError(
                    .invalidSite, "eucalyptus.conf \(path) does not exist",
                    at: eucalyptusConf == nil ? namedConf?.location : SourceLocation(source: "--eucalyptus-conf"))
            }
            layers.append(try EucalyptusConf.layer(text, source: path))
        }
        layers.append(flags.layer)
        return try SiteResolver.resolve(layers)
    }
}
