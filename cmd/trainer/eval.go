package main

func runEval(args []string) error { return usagef("eval: not built yet") }
