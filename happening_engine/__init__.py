"""Happening: a multi-tenant event booking engine built for flash-sale bursts."""
