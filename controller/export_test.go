package controller

// SetBeforeUpdate lets tests change an action between PutAction's read and
// its conditional write.
func SetBeforeUpdate(c *Controller, f func()) { c.beforeUpdate = f }
