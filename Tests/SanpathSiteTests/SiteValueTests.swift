import SanpathCore
import SanpathSite
import Testing

/// Resolves a site from a site file text, a properties text and a eucalyptus.conf text.
func resolve(
    site: String? = nil, properties: String? = nil, partition: String? = nil, conf: String? = nil,
    flags: SiteFlags = SiteFlags()
) throws(SanpathError) -> Site {
    let files: [String: String] = [
        "/site.toml": site, "/props.txt": properties, "/eucalyptus.conf": conf,
    ].compactMapValues { $0 }
    let inputs = SiteInputs(
        siteFile: site == nil ? nil : "/site.toml", defaultSiteFile: "/nonexistent/site.toml",
        properties: properties == nil ? nil : "/props.txt", partition: partition,
        eucalyptusConf: conf == nil ? nil : "/eucalyptus.conf", flags: flags)
    return try inputs.load(read: { path in files[path] })
}

@Suite struct SitePathSyntaxTests {
    @Test(arguments: [
        ("10.0.0.1,10.0.1.1", [nil, nil], ["10.0.0.1:3260", "10.0.1.1:3260"]),
        ("iface0:10.0.0.1,iface1:10.0.1.1", ["iface0", "iface1"], ["10.0.0.1:3260", "10.0.1.1:3260"]),
        ("iface0:san-a.example.org:3261", ["iface0"], ["san-a.example.org:3261"]),
        ("10.0.0.1:3261", [nil], ["10.0.0.1:3261"]),
        ("iface0:[fe80::1]:3260,[2001:db8::2]", ["iface0", nil], ["[fe80::1]:3260", "[2001:db8::2]:3260"]),
        (" iface0:10.0.0.1 , iface1:10.0.1.1 ", ["iface0", "iface1"], ["10.0.0.1:3260", "10.0.1.1:3260"]),
    ] as [(String, [String?], [String])])
    func parsesEucalyptusPaths(_ text: String, _ ifaces: [String?], _ portals: [String]) throws {
        let paths = try SiteValues.parsePaths(text, what: "paths", at: SourceLocation(source: "t", line: 1, column: 1))
        #expect(paths.map(\.iface) == ifaces)
        #expect(paths.map(\.portal.description) == portals)
    }

    /// Every malformed value names the property, the column of the bad element and the text.
    @Test(arguments: [
        ("iface0:10.0.0.1,,iface1:10.0.1.1", 17, "empty path"),
        ("iface0:", 1, "has no address"),
        (":10.0.0.1", 1, "empty iface name"),
        ("iface0:10.108.1.300", 8, "300 is over 255"),
        ("10.0.0.1:0", 10, "not in 1–65535"),
        ("10.0.0.1:65536", 10, "not in 1–65535"),
        ("iface0:10.0.0.1:99999", 17, "not in 1–65535"),
        ("10.0.0", 1, "needs 4 numbers"),
        ("iface0:bad_host!", 8, "invalid host name"),
        ("a:b:c:d", 1, "too many ':'"),
        ("iface0:[fe80::zz]", 9, "invalid IPv6"),
        ("default:10.0.0.1", 1, "reserves"),
        ("nopath", 1, "placeholder"),
        ("", 1, "no iSCSI path"),
    ] as [(String, Int, String)])
    func rejectsMalformedPaths(_ text: String, _ column: Int, _ words: String) {
        do {
            _ = try SiteValues.parsePaths(text, what: "PARTI00.storage.ncpaths", at: SourceLocation(source: "props", line: 4, column: 1))
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.location == SourceLocation(source: "props", line: 4, column: column), "\(error)")
            #expect(error.message.contains(words), "\(error.message)")
            #expect(error.message.hasPrefix("PARTI00.storage.ncpaths"))
            #expect(error.diagnostics.first?.text != nil)
        }
    }

    @Test(arguments: [
        ("iface0=br0,iface0=eth1", "mapped twice"),
        ("iface0=", "has no NIC"),
        ("=br0", "empty iface name"),
        ("iface0", "expected iface=NIC"),
        ("iface0=this-name-is-too-long", "invalid NIC name"),
        ("iface0=br0,", "empty iface=NIC pair"),
    ])
    func rejectsMalformedInterfaceMaps(_ text: String, _ words: String) {
        #expect {
            _ = try SiteValues.parseInterfaces(text, what: "STORAGE_INTERFACES", at: SourceLocation(source: "e", line: 9, column: 21))
        } throws: { error in
            (error as? SanpathError)?.message.contains(words) == true && (error as? SanpathError)?.location?.line == 9
        }
    }

    @Test(arguments: ["", " , ", "10.0.0.1,,10.0.0.2", "10.0.0.1,10.0.0.1"])
    func rejectsBadSANHostLists(_ text: String) {
        #expect(throws: SanpathError.self) {
            _ = try SiteValues.parseSANHosts(text, what: "storage.sanhost", at: SourceLocation(source: "p"))
        }
    }
}

@Suite struct SiteSourceTests {
    let properties = """
        PROPERTY\tPARTI00.storage.blockstoragemanager\tequallogic
        DESCRIPTION\tPARTI00.storage.blockstoragemanager\tEBS backend provider
        PROPERTY\tPARTI00.storage.ncpaths\tiface0:10.107.1.200,iface1:10.108.1.200
        PROPERTY\tPARTI00.storage.scpaths\t10.107.1.201
        PROPERTY\tPARTI00.storage.sanhost\t10.109.1.27,10.109.1.26
        PROPERTY\tPARTI01.storage.ncpaths\tiface0:10.207.1.1
        PROPERTY\tPARTI01.storage.blockstoragemanager\tnetapp

        """
    let conf = """
        # eucalyptus.conf
        #STORAGE_INTERFACES="old=eth9"
        STORAGE_INTERFACES="iface0=br0,iface1=eth1"

        """

    @Test func eucalyptusSourcesMakeASite() throws {
        let site = try resolve(
            site: "role = \"nc\"\n", properties: properties, partition: "PARTI00", conf: conf)
        #expect(site.vendor == .equallogic)
        #expect(site.role == .nc)
        #expect(site.paths.map(\.description) == ["iface0:10.107.1.200:3260", "iface1:10.108.1.200:3260"])
        #expect(site.ifacesInUse.map(\.nic) == ["br0", "eth1"])
        // Eucalyptus tries SAN hosts in sorted order, not as listed
        #expect(site.sanHostsInEucalyptusOrder.map(\.host) == ["10.109.1.26", "10.109.1.27"])
    }

    @Test func roleSelectsScpaths() throws {
        let site = try resolve(properties: properties, partition: "PARTI00", flags: SiteFlags(role: "sc"))
        #expect(site.paths.map(\.description) == ["10.107.1.201:3260"])
    }

    @Test func flagsWinOverEveryFile() throws {
        let site = try resolve(
            site: "vendor = \"vnx\"\nrole = \"nc\"\npaths = \"10.0.0.1\"\n", properties: properties, partition: "PARTI00",
            conf: conf, flags: SiteFlags(vendor: "netapp", paths: "iface1:10.9.9.9"))
        #expect(site.vendor == .netapp)
        #expect(site.paths.map(\.description) == ["iface1:10.9.9.9:3260"])
    }

    @Test func severalPartitionsNeedAChoice() {
        #expect {
            _ = try resolve(properties: properties, flags: SiteFlags(role: "nc"))
        } throws: { error in
            (error as? SanpathError)?.message.contains("PARTI00, PARTI01") == true
        }
    }

    @Test func unmappedIfaceIsAnErrorAtThePath() {
        #expect {
            _ = try resolve(
                properties: properties, partition: "PARTI00", conf: "STORAGE_INTERFACES=\"iface0=br0\"\n",
                flags: SiteFlags(role: "nc"))
        } throws: { error in
            let e = error as? SanpathError
            // the path iface1:10.108.1.200 starts at column 54 of line 3 of the properties file
            return e?.message.contains("iface 'iface1' is not mapped") == true
                && e?.location == SourceLocation(source: "/props.txt", line: 3, column: 54)
        }
    }

    @Test func sameIfaceTwiceIsAnError() {
        #expect {
            _ = try resolve(
                conf: conf, flags: SiteFlags(vendor: "eql", role: "nc", paths: "iface0:10.0.0.1,iface0:10.0.0.2"))
        } throws: { error in
            (error as? SanpathError)?.message.contains("used by two paths") == true
                && (error as? SanpathError)?.location?.column == 17
        }
    }

    @Test func emptySANHostPropertyIsAnError() {
        let props = "PROPERTY\tP.storage.ncpaths\t10.0.0.1\nPROPERTY\tP.storage.sanhost\t\n"
        #expect {
            _ = try resolve(properties: props, flags: SiteFlags(vendor: "netapp", role: "nc"))
        } throws: { error in
            (error as? SanpathError)?.message.contains("P.storage.sanhost: no SAN management host") == true
        }
    }

    @Test func siteFileErrorsNameFileLineAndColumn() {
        #expect {
            _ = try resolve(site: "vendor = \"equallogic\"\nrole = \"nc\"\npaths = \"iface0:10.0.0.1:70000\"\n[interfaces]\niface0 = \"br0\"\n")
        } throws: { error in
            (error as? SanpathError)?.location == SourceLocation(source: "/site.toml", line: 3, column: 26)
        }
        #expect {
            _ = try resolve(site: "vendr = \"equallogic\"\n")
        } throws: { error in
            (error as? SanpathError)?.message.contains("unknown key") == true
        }
    }

    @Test func unquotedStorageInterfacesIsAnError() {
        #expect {
            _ = try resolve(conf: "STORAGE_INTERFACES=iface0=br0\n", flags: SiteFlags(vendor: "vnx", role: "nc", paths: "10.0.0.1"))
        } throws: { error in
            (error as? SanpathError)?.location == SourceLocation(source: "/eucalyptus.conf", line: 1, column: 20)
        }
    }

    /// `[multipath] no_path_retry`: queue, fail or a count, chosen over the profile's value; anything
    /// else names the file, line and column.
    @Test func siteChoosesNoPathRetryKnowingly() throws {
        let base = "vendor = \"netapp\"\nrole = \"nc\"\npaths = \"10.0.0.1\"\n[multipath]\n"
        #expect(try resolve(site: base + "no_path_retry = \"queue\"\n").noPathRetry == "queue")
        #expect(try resolve(site: base + "no_path_retry = 24\n").noPathRetry == "24")
        #expect(try resolve(site: base).noPathRetry == nil)
        #expect {
            _ = try resolve(site: base + "no_path_retry = \"forever\"\n")
        } throws: { error in
            let error = error as? SanpathError
            return error?.location == SourceLocation(source: "/site.toml", line: 5, column: 18) && "\(error!)".contains("'forever'")
        }
        #expect {
            _ = try resolve(site: base + "no_path_rety = 3\n")
        } throws: { error in
            (error as? SanpathError)?.message.contains("unknown key in [multipath]") == true
        }
    }

    @Test func chapPasswordNeverInDescriptions() throws {
        let site = try resolve(
            site: "vendor = \"netapp\"\nrole = \"sc\"\npaths = \"10.0.0.1\"\n[chap]\nusername = \"u\"\npassword = \"VerySecret123456\"\n")
        #expect(site.chap?.password == "VerySecret123456")
        #expect(!"\(site.chap!)".contains("VerySecret"))
    }
}
