// The piscina worker of the pool bench: returns its task.
export default (task) => task;
