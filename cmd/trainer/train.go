package main

func runTrain(args []string) error { return usagef("train: not built yet") }
