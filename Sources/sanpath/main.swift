import SanpathCLI

// All behaviour lives in SanpathCLI, which tests import; this only hands over control.
await SanpathCommand.runMain()
