// Empty: the module only declares libFuzzer's driver entry, which -sanitize=fuzzer links.
