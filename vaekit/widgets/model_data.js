// ModelData shows nothing: the explorers read its decoder and test set (see data.js).
export default { render() {} };
