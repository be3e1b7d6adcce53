package main

func runSendTime(contacts int, seed uint64) error { return nil }
