package main

func runWorld(args []string) error { return usagef("world: not built yet") }
